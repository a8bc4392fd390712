"""Places: the org tree, households and their plates, grid visits, plate scans."""
