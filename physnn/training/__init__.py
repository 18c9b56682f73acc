"""physnn.training"""
