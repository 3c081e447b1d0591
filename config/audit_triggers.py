"""The database triggers that make audit entries append-only, for both engines.

One place for the SQL: the migration installs it, and the test suite's flush (which
empties every table between transactional tests, as no production path ever does)
lifts it around the flush the way a superuser's maintenance would.

Two UPDATEs are allowed, each changing nothing else: sealing (an entry without a chain
position gets its ``seq`` and hashes, once), and what deleting a user causes (``actor_id``
going NULL; it is not hashed, and the username is kept as text).
"""

from __future__ import annotations

from collections.abc import Sequence

TABLE = "config_auditentry"
REFUSED = "audit entries are append-only"
_PG_FUNCTION = "config_auditentry_append_only"
_PG_ROW_TRIGGER = "config_auditentry_no_update_delete"
_PG_TRUNCATE_TRIGGER = "config_auditentry_no_truncate"
_SQLITE_UPDATE_TRIGGER = "config_auditentry_no_update"
_SQLITE_DELETE_TRIGGER = "config_auditentry_no_delete"

_CHAIN = ("seq", "prev_hash", "entry_hash")
# Every column but actor_id, as of the migration that installs the triggers.
COLUMNS = (
    "id",
    "content_type_id",
    "object_pk",
    "object_id",
    "object_repr",
    "serialized_data",
    "action",
    "changes_text",
    "changes",
    "cid",
    "remote_addr",
    "remote_port",
    "timestamp",
    "additional_data",
    "actor_email",
    "seq",
    "prev_hash",
    "entry_hash",
    "actor_username",
    "actor_role",
    "surface",
)


def install_sql(vendor: str, columns: Sequence[str] = COLUMNS) -> list[str]:
    if vendor == "postgresql":
        pg_content = " AND ".join(
            f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}"
            for c in (*columns, "actor_id")
            if c not in _CHAIN
        )
        return [
            f"""
            CREATE OR REPLACE FUNCTION {_PG_FUNCTION}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' THEN
                    -- Column by column: converting whole rows to jsonb made sealing a
                    -- batch cost more than writing it.
                    IF OLD.seq IS NULL AND NEW.seq IS NOT NULL AND {pg_content} THEN
                        RETURN NEW;
                    END IF;
                    IF NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
                       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
                        RETURN NEW;
                    END IF;
                END IF;
                RAISE EXCEPTION USING
                    MESSAGE = '{REFUSED} (' || TG_OP || ' refused)',
                    ERRCODE = 'insufficient_privilege';
            END
            $$
            """,
            f"""
            CREATE TRIGGER {_PG_ROW_TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}()
            """,
            f"""
            CREATE TRIGGER {_PG_TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()
            """,
        ]
    if vendor == "sqlite":
        unchanged = " AND ".join(f'NEW."{c}" IS OLD."{c}"' for c in columns)
        content = " AND ".join(
            f'NEW."{c}" IS OLD."{c}"' for c in (*columns, "actor_id") if c not in _CHAIN
        )
        return [
            f"""
            CREATE TRIGGER {_SQLITE_UPDATE_TRIGGER} BEFORE UPDATE ON {TABLE}
            WHEN NOT (
                (OLD.seq IS NULL AND NEW.seq IS NOT NULL AND {content})
                OR (NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL AND {unchanged})
            )
            BEGIN SELECT RAISE(ABORT, '{REFUSED} (UPDATE refused)'); END
            """,
            f"""
            CREATE TRIGGER {_SQLITE_DELETE_TRIGGER} BEFORE DELETE ON {TABLE}
            BEGIN SELECT RAISE(ABORT, '{REFUSED} (DELETE refused)'); END
            """,
        ]
    raise NotImplementedError(f"no append-only triggers for {vendor}")


def drop_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {_PG_ROW_TRIGGER} ON {TABLE}",
            f"DROP TRIGGER IF EXISTS {_PG_TRUNCATE_TRIGGER} ON {TABLE}",
            f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()",
        ]
    if vendor == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {_SQLITE_UPDATE_TRIGGER}",
            f"DROP TRIGGER IF EXISTS {_SQLITE_DELETE_TRIGGER}",
        ]
    raise NotImplementedError(f"no append-only triggers for {vendor}")
