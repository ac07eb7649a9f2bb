"""At the biobank: the freezer tree, box positions, placing tubes, rack-scanner files and their
import, and a stored tube's lifecycle."""
