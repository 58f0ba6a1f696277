"""Referral reports and vendor dossiers: HTML, PDF, CSV and a verifiable evidence bundle (issue 15)."""
