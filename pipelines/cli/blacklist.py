"""`smsflow blacklist ...`: see the module owner (issue 9)."""
