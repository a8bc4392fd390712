"""考核督查: the figures a town and its villages are assessed on (from the cases, the visits and the statistics
the three sources report), the county's scheme that scores them, reports, spot checks of closed cases, and
supervision notices with their rectification."""
