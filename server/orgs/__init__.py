"""The organisation tree: county, towns with their centers, villages, grids, micro-grids. Every other domain
hangs on it (grants, households, cases), so it sits right above the core."""
