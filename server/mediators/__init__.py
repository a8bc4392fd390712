"""待遇 + 荣誉: the mediation roster (mediators and the social forces beside them), the consulting experts,
star ratings (星级评定), 以案定补 subsidies and expert consultations, all computed from the cases the platform
already records."""
