"""Between sites: packing and dispatching shipments (sending), and receiving them at the biobank
(receiving)."""
