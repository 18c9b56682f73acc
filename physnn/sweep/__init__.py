"""physnn.sweep"""
