"""physnn.asic"""
