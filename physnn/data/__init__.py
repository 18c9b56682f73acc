"""physnn.data"""
