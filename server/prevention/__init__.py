"""主动治理: one dispute across the three sources (一件事), the household file behind every plate, warnings
that reach people at once (risk, 群体性 clusters, escalation of what nobody handles) and the office's daily
研判. The risk model itself scores cases in server/cases/risk.py, where every change of a case passes."""
