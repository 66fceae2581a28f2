"""Signed tracking links, click tracking and attribution (the pure parts)."""

from affiliate_sdk.tracking.attribution import decide, model_weights
from affiliate_sdk.tracking.clicks import Click, IpPseudonymizer, VisitorCookie
from affiliate_sdk.tracking.keys import Keyring, LinkKey
from affiliate_sdk.tracking.landing import LandingPolicy, check_landing_url
from affiliate_sdk.tracking.links import LinkClaims, decode_token, encode_token

__all__ = [
    "Click",
    "IpPseudonymizer",
    "Keyring",
    "LandingPolicy",
    "LinkClaims",
    "LinkKey",
    "VisitorCookie",
    "check_landing_url",
    "decide",
    "decode_token",
    "encode_token",
    "model_weights",
]
