"""People: users and their grants, login sessions, the ways in, staff accounts."""
