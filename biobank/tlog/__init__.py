"""The custody log's cryptography, as published in DESIGN §7a: RFC 9162 Merkle trees and C2SP
signed-note checkpoints.

A leaf package like ``labels``: no Flask, no SQLAlchemy, nothing of the biobank's. An auditor
can read it (or replace it with Go's ``golang.org/x/mod/sumdb`` or transparency-dev's
``merkle``) to check what the log publishes; the app keeps its tree in the database and asks
this package for the arithmetic.
"""
