"""Residents' rights under the 个人信息保护法: what the platform holds about a person, given to them."""
