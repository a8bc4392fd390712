"""Outbound messages: SMS, WeChat subscribe messages and (later) the in-app inbox and the outbox dispatcher."""
