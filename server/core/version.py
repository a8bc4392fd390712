"""The product's version, reported by `GET /api/version`."""

NAME = "三源共治平台"
VERSION = "0.1.0"
API_VERSION = "1"
