"""The course's math as plain NumPy functions over a dict of parameters."""
