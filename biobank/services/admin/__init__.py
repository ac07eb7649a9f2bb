"""Running the system: the failed attempts admins read, demo data and scale data."""
