"""Alerts that reach people (issue 22): the inbox of each user (:mod:`.inbox`), the rules as data
(:mod:`.rules`) and the live badge's server side (:mod:`.live`).

The database decides everything a user sees and may write (``sql/180``–``183``): these modules only
query it as the user, with bound parameters.
"""

from euralis_lib.exceptions import EuralisError

ISSUES = {"probleme_reel": "Problème réel", "fausse_alerte": "Fausse alerte"}
SEVERITES = {"info": "Info", "attention": "Attention", "critique": "Critique"}


class AlertError(EuralisError):
    """An alert action refused, with a message for the user (in French)."""
