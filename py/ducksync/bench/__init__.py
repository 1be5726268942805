"""``ducksync bench``: the whole sync path measured, natively and in the real browser.

One run measures our path next to two yardsticks taken in the same run (the seed's
string-built ``INSERT ... VALUES`` and the engine's own Arrow export + ingest with
no network), so every claim is a ratio on the same machine at the same moment.
Pure parts (:mod:`.seed`, :mod:`.results`, :mod:`.data`) import nothing heavy;
:mod:`.native` and :mod:`.browser` import duckdb / playwright lazily.
"""
