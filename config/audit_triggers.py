"""The database triggers that keep the audit trail append-only, for both engines.

One place for the SQL: the migrations install it, and the test suite's flush (which
empties every table between transactional tests, as no production path ever does)
lifts it around the flush the way a superuser's maintenance would.

Entries (``config_auditentry``) refuse UPDATE and DELETE, with one exception that changes
nothing else: ``actor_id`` going NULL when a user is deleted (it is not hashed, and the
username is kept as text). Chain links (``config_auditlink``) refuse every UPDATE and
DELETE: the sealer only inserts them. On PostgreSQL both refuse TRUNCATE too. A third
trigger marks every inserted entry pending (``config_auditpending``), whoever inserts
it, so the sealer finds it.
"""

from __future__ import annotations

TABLE = "config_auditentry"
LINK_TABLE = "config_auditlink"
PENDING_TABLE = "config_auditpending"
REFUSED = "audit entries are append-only"
_PG_FUNCTION = "config_auditentry_append_only"
_PG_ROW_TRIGGER = "config_auditentry_no_update_delete"
_PG_TRUNCATE_TRIGGER = "config_auditentry_no_truncate"
_SQLITE_UPDATE_TRIGGER = "config_auditentry_no_update"
_SQLITE_DELETE_TRIGGER = "config_auditentry_no_delete"
_PG_LINK_FUNCTION = "config_auditlink_append_only"
_PG_LINK_ROW_TRIGGER = "config_auditlink_no_update_delete"
_PG_LINK_TRUNCATE_TRIGGER = "config_auditlink_no_truncate"
_SQLITE_LINK_UPDATE_TRIGGER = "config_auditlink_no_update"
_SQLITE_LINK_DELETE_TRIGGER = "config_auditlink_no_delete"
_PG_PENDING_FUNCTION = "config_auditentry_mark_pending"
_PENDING_TRIGGER = "config_auditentry_pending"

# Every column but actor_id, as of the migration that moved the chain into its own table.
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
    "actor_username",
    "actor_role",
    "surface",
)


def _pg_refuse(function: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING
            MESSAGE = '{REFUSED} (' || TG_OP || ' refused)',
            ERRCODE = 'insufficient_privilege';
    END
    $$
    """


def install_sql(vendor: str, *, chain_table: bool = True) -> list[str]:
    """``chain_table=False`` installs the entry table's triggers only, for the migrations
    that ran before the chain had a table of its own."""
    if vendor == "postgresql":
        unchanged = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in COLUMNS)
        statements = [
            f"""
            CREATE OR REPLACE FUNCTION {_PG_FUNCTION}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                -- Column by column: converting whole rows to jsonb costs more per row.
                IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
                   AND {unchanged} THEN
                    RETURN NEW;
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
        if not chain_table:
            return statements
        return [
            *statements,
            _pg_refuse(_PG_LINK_FUNCTION),
            f"""
            CREATE TRIGGER {_PG_LINK_ROW_TRIGGER} BEFORE UPDATE OR DELETE ON {LINK_TABLE}
            FOR EACH ROW EXECUTE FUNCTION {_PG_LINK_FUNCTION}()
            """,
            f"""
            CREATE TRIGGER {_PG_LINK_TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {LINK_TABLE}
            FOR EACH STATEMENT EXECUTE FUNCTION {_PG_LINK_FUNCTION}()
            """,
            # One INSERT ... SELECT per statement (a transition table), not one per row:
            # the batch paths insert thousands of entries in one statement.
            f"""
            CREATE OR REPLACE FUNCTION {_PG_PENDING_FUNCTION}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO {PENDING_TABLE} (entry_id) SELECT id FROM added;
                RETURN NULL;
            END
            $$
            """,  # noqa: S608
            f"""
            CREATE TRIGGER {_PENDING_TRIGGER} AFTER INSERT ON {TABLE}
            REFERENCING NEW TABLE AS added
            FOR EACH STATEMENT EXECUTE FUNCTION {_PG_PENDING_FUNCTION}()
            """,
        ]
    if vendor == "sqlite":
        unchanged = " AND ".join(f'NEW."{c}" IS OLD."{c}"' for c in COLUMNS)
        statements = [
            f"""
            CREATE TRIGGER {_SQLITE_UPDATE_TRIGGER} BEFORE UPDATE ON {TABLE}
            WHEN NOT (NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL AND {unchanged})
            BEGIN SELECT RAISE(ABORT, '{REFUSED} (UPDATE refused)'); END
            """,
            f"""
            CREATE TRIGGER {_SQLITE_DELETE_TRIGGER} BEFORE DELETE ON {TABLE}
            BEGIN SELECT RAISE(ABORT, '{REFUSED} (DELETE refused)'); END
            """,
        ]
        if not chain_table:
            return statements
        return [
            *statements,
            f"""
            CREATE TRIGGER {_SQLITE_LINK_UPDATE_TRIGGER} BEFORE UPDATE ON {LINK_TABLE}
            BEGIN SELECT RAISE(ABORT, '{REFUSED} (UPDATE refused)'); END
            """,
            f"""
            CREATE TRIGGER {_SQLITE_LINK_DELETE_TRIGGER} BEFORE DELETE ON {LINK_TABLE}
            BEGIN SELECT RAISE(ABORT, '{REFUSED} (DELETE refused)'); END
            """,
            f"""
            CREATE TRIGGER {_PENDING_TRIGGER} AFTER INSERT ON {TABLE}
            BEGIN INSERT INTO {PENDING_TABLE} (entry_id) VALUES (NEW.id); END
            """,  # noqa: S608
        ]
    raise NotImplementedError(f"no append-only triggers for {vendor}")


def drop_sql(vendor: str, *, chain_table: bool = True) -> list[str]:
    if vendor == "postgresql":
        statements = [
            f"DROP TRIGGER IF EXISTS {_PG_ROW_TRIGGER} ON {TABLE}",
            f"DROP TRIGGER IF EXISTS {_PG_TRUNCATE_TRIGGER} ON {TABLE}",
            f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()",
        ]
        if not chain_table:
            return statements
        return [
            *statements,
            f"DROP TRIGGER IF EXISTS {_PENDING_TRIGGER} ON {TABLE}",
            f"DROP FUNCTION IF EXISTS {_PG_PENDING_FUNCTION}()",
            f"DROP TRIGGER IF EXISTS {_PG_LINK_ROW_TRIGGER} ON {LINK_TABLE}",
            f"DROP TRIGGER IF EXISTS {_PG_LINK_TRUNCATE_TRIGGER} ON {LINK_TABLE}",
            f"DROP FUNCTION IF EXISTS {_PG_LINK_FUNCTION}()",
        ]
    if vendor == "sqlite":
        statements = [
            f"DROP TRIGGER IF EXISTS {_SQLITE_UPDATE_TRIGGER}",
            f"DROP TRIGGER IF EXISTS {_SQLITE_DELETE_TRIGGER}",
        ]
        if not chain_table:
            return statements
        return [
            *statements,
            f"DROP TRIGGER IF EXISTS {_PENDING_TRIGGER}",
            f"DROP TRIGGER IF EXISTS {_SQLITE_LINK_UPDATE_TRIGGER}",
            f"DROP TRIGGER IF EXISTS {_SQLITE_LINK_DELETE_TRIGGER}",
        ]
    raise NotImplementedError(f"no append-only triggers for {vendor}")
