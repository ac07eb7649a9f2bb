"""Importing a biobank's existing inventory: the file, and the import that plans and writes it."""
