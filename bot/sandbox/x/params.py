"""Which query parameters and field values each X API v2 route takes, and X's 400 for others.

X validates every query parameter against the route's list and every value of a list
parameter (``tweet.fields``, ``expansions``...) against that parameter's list, and
answers anything else with 400 and its ``invalid-request`` problem, one entry in
``errors`` per problem found. Messages as X words them in bodies users have reported:

- ``The query parameter [previous_token] is not one of [query,start_time,...]``
  (plhery/node-twitter-api-v2#597, 2025);
- ``The `tweet.fields` query parameter value [bogus] is not one of [attachments,...]``
  (redouane59/twittered#118);
- ``Duplicate parameters are not allowed: the `id` query parameter``
  (abraham/twitteroauth#1028).

The lists are the API reference's (docs.x.com/x-api/posts/... and /x-api/users/..., 2026):
a value listed here is accepted even where the sandbox has nothing to show for it (see
docs/sandbox-fidelity.md for the fields it renders).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TWEET_FIELDS = (
    "article",
    "attachments",
    "author_id",
    "card_uri",
    "community_id",
    "context_annotations",
    "conversation_id",
    "created_at",
    "display_text_range",
    "edit_controls",
    "edit_history_tweet_ids",
    "entities",
    "geo",
    "id",
    "in_reply_to_user_id",
    "lang",
    "media_metadata",
    "non_public_metrics",
    "note_tweet",
    "organic_metrics",
    "possibly_sensitive",
    "promoted_metrics",
    "public_metrics",
    "referenced_tweets",
    "reply_settings",
    "scopes",
    "source",
    "suggested_source_links",
    "text",
    "withheld",
)
USER_FIELDS = (
    "affiliation",
    "connection_status",
    "created_at",
    "description",
    "entities",
    "id",
    "is_identity_verified",
    "location",
    "most_recent_tweet_id",
    "name",
    "parody",
    "pinned_tweet_id",
    "profile_banner_url",
    "profile_image_url",
    "protected",
    "public_metrics",
    "receives_your_dm",
    "subscription",
    "subscription_type",
    "url",
    "username",
    "verified",
    "verified_followers_count",
    "verified_type",
    "withheld",
)
MEDIA_FIELDS = (
    "alt_text",
    "duration_ms",
    "height",
    "media_key",
    "non_public_metrics",
    "organic_metrics",
    "preview_image_url",
    "promoted_metrics",
    "public_metrics",
    "type",
    "url",
    "variants",
    "width",
)
PLACE_FIELDS = (
    "contained_within",
    "country",
    "country_code",
    "full_name",
    "geo",
    "id",
    "name",
    "place_type",
)
POLL_FIELDS = ("duration_minutes", "end_datetime", "id", "options", "voting_status")
TWEET_EXPANSIONS = (
    "article.cover_media",
    "article.media_entities",
    "attachments.media_keys",
    "attachments.media_source_tweet",
    "attachments.poll_ids",
    "author_id",
    "edit_history_tweet_ids",
    "entities.mentions.username",
    "geo.place_id",
    "in_reply_to_user_id",
    "entities.note.mentions.username",
    "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys",
    "referenced_tweets.id.author_id",
)
USER_EXPANSIONS = ("affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id")
EXCLUDE = ("replies", "retweets")

_TWEET_LISTS: Mapping[str, tuple[str, ...]] = {
    "expansions": TWEET_EXPANSIONS,
    "media.fields": MEDIA_FIELDS,
    "place.fields": PLACE_FIELDS,
    "poll.fields": POLL_FIELDS,
    "tweet.fields": TWEET_FIELDS,
    "user.fields": USER_FIELDS,
}
_USER_LISTS: Mapping[str, tuple[str, ...]] = {
    "expansions": USER_EXPANSIONS,
    "tweet.fields": TWEET_FIELDS,
    "user.fields": USER_FIELDS,
}


class Route:
    """One route's query parameters (in X's order) and its list-valued ones."""

    def __init__(self, scalars: tuple[str, ...], lists: Mapping[str, tuple[str, ...]]) -> None:
        self.lists = dict(lists)
        self.names = (*scalars, *lists)
        self.known = frozenset(self.names)


POST_LOOKUP = Route(("ids",), _TWEET_LISTS)  # GET /2/tweets
POST_BY_ID = Route((), _TWEET_LISTS)  # GET /2/tweets/:id
ME = Route((), _USER_LISTS)  # GET /2/users/me
TIMELINE = Route(  # GET /2/users/:id/tweets
    (
        "since_id",
        "until_id",
        "max_results",
        "pagination_token",
        "exclude",
        "start_time",
        "end_time",
    ),
    {**_TWEET_LISTS, "exclude": EXCLUDE},
)
NO_QUERY = Route((), {})  # POST /2/tweets, DELETE /2/tweets/:id

# POST /2/tweets body members (docs.x.com/x-api/posts/create-post). X's JSON schema
# allows no others: "$.bogus: is not defined in the schema and the schema does not allow
# additional properties".
CREATE_BODY = frozenset(
    {
        "card_uri",
        "community_id",
        "direct_message_deep_link",
        "for_super_followers_only",
        "geo",
        "made_with_ai",
        "media",
        "nullcast",
        "paid_partnership",
        "poll",
        "quote_tweet_id",
        "reply",
        "reply_settings",
        "share_with_followers",
        "text",
    }
)


def problems(route: Route, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The ``errors`` entries X gives for this query; empty when it is valid."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    found: list[dict[str, Any]] = []
    for name, values in grouped.items():
        if len(values) > 1:
            message = f"Duplicate parameters are not allowed: the `{name}` query parameter"
            found.append({"parameters": {name: values}, "message": message})
            continue
        value = values[0]
        if name not in route.known:
            message = f"The query parameter [{name}] is not one of [{','.join(route.names)}]"
            found.append({"parameters": {name: [value]}, "message": message})
            continue
        allowed = route.lists.get(name)
        if allowed is None:
            continue
        if not value:
            message = f"The `{name}` query parameter can not be empty"
            found.append({"parameters": {name: [value]}, "message": message})
            continue
        for item in value.split(","):
            if item not in allowed:
                message = (
                    f"The `{name}` query parameter value [{item}] is not one of"
                    f" [{','.join(allowed)}]"
                )
                found.append({"parameters": {name: [value]}, "message": message})
    return found


def body_problems(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Members of a POST /2/tweets body that X's schema does not define."""
    return [
        {
            "parameters": {},
            "message": f"$.{key}: is not defined in the schema and the schema does not allow"
            " additional properties",
        }
        for key in payload
        if key not in CREATE_BODY
    ]
