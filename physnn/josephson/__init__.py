"""physnn.josephson"""
