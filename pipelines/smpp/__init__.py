"""SMPP 3.4: PDUs, GSM7, the SMSC simulator and the dispatcher's session."""
