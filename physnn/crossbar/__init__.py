"""physnn.crossbar"""
