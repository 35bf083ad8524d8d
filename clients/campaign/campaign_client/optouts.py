"""Campaign's opt-out flags of a profile, as its API, exports and workflows name them."""

FLAGS = (
    "blackList",
    "blackListEmail",
    "blackListFax",
    "blackListMobile",
    "blackListPhone",
    "blackListPostalMail",
    "blackListPushnotification",
    "ccpaOptOut",
)
