"""physnn.reservoir"""
