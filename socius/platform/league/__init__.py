"""The league: roles and snapshots, team ratings, prioritized fictitious self-play (pure functions
first; the league actor and the matchmaker build on them)."""
