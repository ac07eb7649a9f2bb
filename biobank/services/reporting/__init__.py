"""What people and other systems read: any record found by a scan, reports, dashboards and their
tallies, SPREC codes, and FHIR and CSV exports."""
