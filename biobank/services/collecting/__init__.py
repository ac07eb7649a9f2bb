"""At the clinic: participants and their consent, collections and their tubes, labels and label
printers."""
