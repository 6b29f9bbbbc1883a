"""The analyst console behind ``edgelake console --lake LAKE``: read-only SQL over the lake's views.

This module owns the console's behaviour: cutting input into statements at semicolons (outside
strings and comments), dot-commands, completion candidates, fitting result tables to the screen and
turning every failure into one line. It owns no SQL semantics: statements go through
:func:`pipeline.query.views.query` (which refuses anything but queries), named queries through
:func:`pipeline.analyses.run`, rendering through :func:`pipeline.query.render.render`.

:class:`Console` is driven by lines (:meth:`Console.run_lines`), so script mode (stdin not a
terminal) and tests use the same loop as the terminal; :func:`main` adds a prompt_toolkit front end
(history file, multi-line editing, Tab completion) when stdin and stdout are terminals.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import duckdb
import pyarrow as pa

from pipeline import resources, schemas
from pipeline.console.sqltext import is_complete, mask, one_line, split_sql
from pipeline.errors import EdgelakeError, UsageError
from pipeline.query import named as queries
from pipeline.query import views as catalog
from pipeline.query.render import FORMATS, render

ENGINES = ("duckdb", "polars")
PROMPT, CONTINUATION = "edgelake> ", "     ...> "
HELP = """\
SQL statements end with ';' and may span lines; only queries run (the lake is read-only).
Views: .tables lists them. Tab completes keywords, tables, columns and named queries.
  .help                    this text
  .tables                  tables, views and table macros
  .schema [TABLE]          columns, types and descriptions (all tables without TABLE)
  .queries                 named queries and their parameters
  .run NAME [key=value]... run a named query (quote values with spaces: key='a b')
  .engine duckdb|polars    engine for .run (plain SQL always runs on DuckDB)
  .format FMT              table | csv | json | markdown (.mode is the same)
  .output [FILE]           write results to FILE; without FILE, back to the screen
  .timer on|off            show elapsed time after each result
  .maxrows N               rows shown on screen in table format (0: all)
  .quit / .exit / Ctrl-D   leave"""
DOT_COMMANDS = (
    ".help",
    ".tables",
    ".schema",
    ".queries",
    ".run",
    ".engine",
    ".format",
    ".mode",
    ".output",
    ".timer",
    ".maxrows",
    ".quit",
    ".exit",
)
TABLE_CONTEXT = {"FROM", "JOIN", "DESCRIBE", "SUMMARIZE", "TABLE"}
_TAIL = re.compile(r"(?:([A-Za-z_][A-Za-z0-9_]*)\.)?([A-Za-z_][A-Za-z0-9_]*)?$")
_REFS = re.compile(
    r"\b(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+(?:AS\s+)?([A-Za-z_][A-Za-z0-9_]*))?", re.IGNORECASE
)
_PREV = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|\S)\s*$")
_MISSING = re.compile(r"(?:Table|Table Function) with name (\S+?) does not exist!?")


def history_path() -> Path:
    """``$EDGELAKE_HISTORY``, else ``$XDG_STATE_HOME/edgelake/history``, else ``~/.local/state/...``."""
    if os.environ.get("EDGELAKE_HISTORY"):
        return Path(os.environ["EDGELAKE_HISTORY"]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "edgelake" / "history"


# --- what completion knows -------------------------------------------------------------------------
@dataclass
class Vocabulary:
    """Names the console completes, read once from the connection and the query catalog."""

    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # view -> (column, type)
    macros: dict[str, list[str]] = field(default_factory=dict)  # table macro -> parameters
    keywords: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> Vocabulary:
        vocab = cls()
        for table, column, type_ in con.sql(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE NOT internal "
            "AND schema_name = 'main' AND table_name NOT LIKE '\\_\\_%' ESCAPE '\\' "
            "ORDER BY table_name, column_index"
        ).fetchall():
            vocab.columns.setdefault(table, []).append((column, type_))
        for name, params in con.sql(
            "SELECT function_name, parameters FROM duckdb_functions() WHERE NOT internal "
            "AND function_type = 'table_macro' ORDER BY 1"
        ).fetchall():
            vocab.macros[name] = list(params)
        vocab.keywords = sorted(k.upper() for (k,) in con.sql("SELECT keyword_name FROM duckdb_keywords()").fetchall())
        vocab.functions = sorted(
            {
                f
                for (f,) in con.sql(
                    "SELECT function_name FROM duckdb_functions() WHERE function_type IN ('scalar', 'aggregate')"
                ).fetchall()
                if re.fullmatch(r"[a-z][a-z0-9_]*", f)
            }
        )
        return vocab

    @property
    def tables(self) -> list[str]:
        return sorted(self.columns)


def _named_queries() -> dict[str, queries.NamedQuery]:
    try:
        return queries.all_queries()
    except EdgelakeError:
        return {}  # a broken sql/ file is reported by .queries and .run, not by Tab


def _matching(prefix: str, names: Iterable[str]) -> list[str]:
    low = prefix.lower()
    return [n for n in names if n.lower().startswith(low)]


# --- the console -----------------------------------------------------------------------------------
class Console:
    """One console session on one lake; feed it lines with :meth:`run_lines`."""

    def __init__(
        self,
        lake: str,
        *,
        out: TextIO,
        err: TextIO,
        interactive: bool = False,
        fit: bool | None = None,
        width: int | None = None,
    ) -> None:
        self.lake = lake
        self.con = catalog.connect(lake, lazy=True)
        catalog.define(self.con)  # the names to complete; tables are still read on first use
        self.vocab = Vocabulary.read(self.con)
        self.stdout, self.err = out, err
        self.interactive = interactive
        self.fmt, self.engine = "table", "duckdb"
        self.timer = interactive  # script output stays deterministic unless asked
        self.screen_fit = out.isatty() if fit is None else fit
        self.width, self.max_rows = width, 40
        self.done = False
        self._hinted = False  # the hint about hidden rows and columns is given once
        self._file: TextIO | None = None
        self._commands: dict[str, Callable[[list[str]], None]] = {
            ".help": lambda _: self._say(HELP),
            ".tables": self._tables,
            ".schema": self._schema,
            ".queries": self._queries,
            ".run": self._run,
            ".output": self._output,
            ".maxrows": self._maxrows,
            ".engine": lambda a: self._set("engine", ENGINES, a),
            ".format": lambda a: self._set("fmt", FORMATS, a),
            ".mode": lambda a: self._set("fmt", FORMATS, a),
            ".timer": lambda a: self._set("timer", ("on", "off"), a),
            ".quit": self._quit,
            ".exit": self._quit,
        }

    @property
    def out(self) -> TextIO:
        return self._file or self.stdout

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.con.close()

    # --- the loop ----------------------------------------------------------------------------------
    def run_lines(self, lines: Iterable[str]) -> int:
        """Run every statement and dot-command in ``lines``; returns how many failed.

        A dot-command is a line of its own, outside a statement. SQL runs when its ``;`` arrives; an
        unfinished statement at the end of the input is run as it is.
        """
        failures, buffer, first_line = 0, "", 0
        for number, raw in enumerate(lines, 1):
            line = raw.rstrip("\r\n")
            if not buffer and line.lstrip().startswith("."):
                failures += not self._guard(functools.partial(self._dot, line), number)
            else:
                if not buffer:
                    first_line = number
                buffer += line + "\n"
                statements, buffer = split_sql(buffer)
                for statement in statements:
                    failures += not self._guard(functools.partial(self._sql, statement), first_line)
                    first_line = number
            if self.done:
                return failures
        if buffer.strip():
            failures += not self._guard(functools.partial(self._sql, buffer), first_line)
        return failures

    def _guard(self, action: Callable[[], None], line: int) -> bool:
        """Run one statement or command; any failure becomes one line on stderr, never a traceback."""
        try:
            action()
            return True
        except EdgelakeError as exc:
            message = self._explain(str(exc))
        except Exception as exc:  # the console outlives whatever a query or an engine throws
            message = f"{type(exc).__name__}: {exc}"
        where = f"line {line}: " if not self.interactive else ""
        print(f"Error: {where}{one_line(message)}", file=self.err, flush=True)
        return False

    def _explain(self, message: str) -> str:
        missing = _MISSING.search(message)
        if not missing:
            return message
        name = missing.group(1).strip('"')
        close = difflib.get_close_matches(name, [*self.vocab.tables, *self.vocab.macros], n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"no table or view named {name}{hint} (.tables lists them)"

    def _say(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def _sql(self, statement: str) -> None:
        started = time.perf_counter()
        result = catalog.query(self.con, statement)
        self.show(result, time.perf_counter() - started)

    def _dot(self, line: str) -> None:
        try:
            words = shlex.split(line.strip().rstrip(";").strip())
        except ValueError as exc:
            raise UsageError(f"cannot read {line.strip()!r}: {exc}") from exc
        command = self._commands.get(words[0].lower())
        if command is None:
            raise UsageError(f"unknown command {words[0]}; .help lists the commands")
        command(words[1:])

    # --- showing results ---------------------------------------------------------------------------
    def show(self, result: pa.Table, seconds: float | None = None) -> None:
        total = result.num_rows
        if result.column_names == ["explain_key", "explain_value"]:  # plans read best as drawn
            text = "\n".join(str(v) for v in result.column("explain_value").to_pylist())
            print(text, file=self.out, flush=True)
            return
        if self.fmt != "table":
            print(render(result, self.fmt), file=self.out, flush=True)
            if self.timer and seconds is not None:
                print(f"({total:,} row{'s' * (total != 1)}, {seconds:.3f} s)", file=self.err, flush=True)
            return
        notes = [f"{total:,} row{'s' * (total != 1)}"]
        fit = self.screen_fit and self._file is None
        if fit and self.max_rows and total > self.max_rows:
            result = result.slice(0, self.max_rows)
            notes.append(f"{self.max_rows} shown")
        text = render(result, "table")
        if fit:
            narrowed, hidden = _fit_columns(result, text, self.width or shutil.get_terminal_size().columns)
            if hidden:
                text = render(narrowed, "table")
                notes.append(f"{hidden} of {result.num_columns} columns hidden")
        cut = len(notes) > 1
        if self.timer and seconds is not None:
            notes.append(f"{seconds:.3f} s")
        lines = text.split("\n")
        if lines and re.fullmatch(r"\(\d+ rows?\)", lines[-1]):
            lines.pop()
        print("\n".join([*lines, f"({', '.join(notes)})"]), file=self.out, flush=True)
        if cut and not self._hinted:
            self._hinted = True
            print("(.maxrows 0 shows every row, .format csv every column)", file=self.err, flush=True)

    # --- dot-commands ------------------------------------------------------------------------------
    def _tables(self, args: list[str]) -> None:
        lake_tables = set(schemas.table_names())
        rows = []
        for name in self.vocab.tables:
            kind = "table" if name in lake_tables else "view"
            about = (
                schemas.load(name).description if name in lake_tables else f"{len(self.vocab.columns[name])} columns"
            )
            rows.append((name, kind, about))
        for name, params in self.vocab.macros.items():
            rows.append((f"{name}({', '.join(params)})", "macro", "table macro: SELECT * FROM " + name + "(...)"))
        width = max(len(r[0]) for r in rows)
        lines = [f"{n.ljust(width)}  {k:<5}  {d.split('. ')[0].rstrip('.')}" for n, k, d in rows]
        if self.screen_fit:
            room = self.width or shutil.get_terminal_size().columns
            lines = [ln if len(ln) <= room else ln[: room - 1] + "…" for ln in lines]
        self._say("\n".join(lines))

    def _schema(self, args: list[str]) -> None:
        names = args or self.vocab.tables
        known = set(self.vocab.tables) | set(self.vocab.macros)
        for name in names:
            if name not in known:
                raise UsageError(self._explain(f"Table with name {name} does not exist"))
        lake_tables = set(schemas.table_names())
        out: list[str] = []
        for name in names:
            if name in self.vocab.macros:
                out.append(f"{name}({', '.join(self.vocab.macros[name])}): table macro over the lake views")
            elif name in lake_tables:
                sch = schemas.load(name)
                out.append(f"{name}: {sch.description}")
                if sch.partition_by:
                    out.append(f"  partitioned by {', '.join(sch.partition_by)}")
                width = max(len(c.name) for c in sch.columns)
                types = max(len(c.type_text) for c in sch.columns)
                out += [f"  {c.name.ljust(width)}  {c.type_text.ljust(types)}  {c.description}" for c in sch.columns]
            else:
                cols = self.vocab.columns[name]
                out.append(f"{name}: view")
                width = max(len(c) for c, _ in cols)
                out += [f"  {c.ljust(width)}  {t}" for c, t in cols]
            out.append("")
        self._say("\n".join(out).rstrip("\n"))

    def _queries(self, args: list[str]) -> None:
        named = queries.all_queries()
        if not named:
            self._say(f"no named queries yet (files {resources.SQL_DIR}/*.sql)")
            return
        out = []
        for q in named.values():
            out.append(f"{q.name}: {q.description}")
            for p in q.params:
                default = "required" if p.required else f"default {p.default}"
                choices = f" [{'|'.join(p.choices)}]" if p.choices else ""
                out.append(f"    {p.name}=<{p.type}>{choices} ({default}) {p.doc}")
        self._say("\n".join(out))

    def _run(self, args: list[str]) -> None:
        from pipeline.analyses import run

        if not args:
            raise UsageError(".run needs a query name; .queries lists them")
        values: dict[str, str] = {}
        for item in args[1:]:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f".run: {item!r} is not key=value")
            values[key] = value
        started = time.perf_counter()
        try:
            frame = run(args[0], self.lake, values, engine=self.engine)
        except UsageError as exc:  # its advice is phrased for `edgelake query`; say it the console's way
            raise UsageError(str(exc).replace("--engine ", ".engine ").replace("--param ", "")) from exc
        self.show(frame.to_arrow(), time.perf_counter() - started)

    def _set(self, attr: str, allowed: tuple[str, ...], args: list[str]) -> None:
        """``.engine``, ``.format`` and ``.timer``: without an argument, say the current value."""
        current = getattr(self, attr)
        if not args:
            self._say(("on" if current else "off") if isinstance(current, bool) else current)
        elif len(args) == 1 and args[0].lower() in allowed:
            value = args[0].lower()
            setattr(self, attr, value == "on" if isinstance(current, bool) else value)
        else:
            command = {"fmt": "format"}.get(attr, attr)
            raise UsageError(f".{command} takes one of {', '.join(allowed)}")

    def _maxrows(self, args: list[str]) -> None:
        if len(args) != 1 or not args[0].isdigit():
            raise UsageError(".maxrows takes a number of rows (0: all)")
        self.max_rows = int(args[0])

    def _output(self, args: list[str]) -> None:
        if len(args) > 1:
            raise UsageError(".output takes one file name (quote it if it has spaces)")
        if args:
            try:
                new = open(args[0], "w", encoding="utf-8")  # noqa: SIM115 - kept open until .output
            except OSError as exc:
                raise UsageError(f"cannot write {args[0]}: {exc.strerror}") from exc
        if self._file is not None:
            self._file.close()
        self._file = new if args else None
        if args and self.interactive:
            self._say(f"results go to {args[0]} until .output")

    def _quit(self, args: list[str]) -> None:
        self.done = True

    # --- completion --------------------------------------------------------------------------------
    def complete(self, before: str, full: str | None = None) -> tuple[int, list[str]]:
        """Completion candidates at the cursor: ``(characters to replace, candidates)``.

        ``before`` is the text up to the cursor, ``full`` the whole input (for the tables it names).
        """
        line = before.rsplit("\n", 1)[-1].lstrip()
        statement_start = not split_sql(before[: len(before) - len(line)])[1]
        if line.startswith(".") and statement_start:
            return self._complete_dot(line)
        masked, open_ = mask(before)
        if open_:
            return 0, []  # inside a string or comment
        m = _TAIL.search(masked)
        assert m is not None  # every group is optional: the pattern always matches at the end
        qualifier, word = m.group(1), m.group(2) or ""
        refs = self._references(mask(full if full is not None else before)[0])
        if qualifier:
            table = refs.get(qualifier.lower(), qualifier)
            return len(word), _matching(word, [c for c, _ in self.vocab.columns.get(table, [])])
        prev = _PREV.search(masked[: m.start()])
        keywords = [k.lower() for k in self.vocab.keywords] if re.search("[a-z]", word) else self.vocab.keywords
        tables = [*self.vocab.tables, *self.vocab.macros]
        if prev and prev.group(1).upper() in TABLE_CONTEXT:
            ranked = tables
        else:
            in_scope = [t for t in dict.fromkeys(refs.values()) if t in self.vocab.columns]
            scope = in_scope or self.vocab.tables
            columns = [c for t in scope for c, _ in self.vocab.columns[t]]
            ranked = [*columns, *keywords, *tables, *(self.vocab.functions if word else [])]
        return len(word), list(dict.fromkeys(_matching(word, ranked)))

    def _references(self, masked: str) -> dict[str, str]:
        """Tables named after FROM/JOIN, keyed by their alias and by their own name (lower case)."""
        refs: dict[str, str] = {}
        keywords = set(self.vocab.keywords)
        for m in _REFS.finditer(masked):
            table, alias = m.group(1), m.group(2)
            refs[table.lower()] = table
            if alias and alias.upper() not in keywords:
                refs[alias.lower()] = table
        return refs

    def _complete_dot(self, line: str) -> tuple[int, list[str]]:
        words = line.split()
        if len(words) <= 1 and not line.endswith((" ", "\t")):
            return len(line), _matching(line, DOT_COMMANDS)
        command = words[0].lower()
        current = "" if line.endswith((" ", "\t")) else words[-1]
        position = len(words) - 1 if current else len(words)  # index of the word being typed
        options: list[str] = []
        if command == ".schema":
            options = [*self.vocab.tables, *self.vocab.macros]
        elif command in (".engine", ".format", ".mode", ".timer"):
            options = list({".engine": ENGINES, ".timer": ("on", "off")}.get(command, FORMATS))
        elif command == ".run":
            named = _named_queries()
            if position == 1:
                options = list(named)
            elif words[1] in named:
                params = {p.name: p for p in named[words[1]].params}
                key, sep, value = current.partition("=")
                if sep and key in params and params[key].choices:
                    return len(value), _matching(value, params[key].choices or ())
                given = {w.partition("=")[0] for w in words[2:]}
                options = [f"{p}=" for p in params if p not in given or p == key]
        return len(current), _matching(current, options)


def _fit_columns(result: pa.Table, text: str, width: int) -> tuple[pa.Table, int]:
    """Keep the leftmost and rightmost columns that fit ``width``, with a ``…`` column between them."""
    lines = text.split("\n")
    if len(lines) < 2 or max(len(ln) for ln in lines) <= width:
        return result, 0
    widths = [len(seg) - 2 for seg in lines[1].split("+")]  # the rule under the header: "-" * (w + 2)
    left: list[int] = []
    right: list[int] = []
    used = 4  # the "…" column costs its width and a separator
    lo, hi = 0, len(widths) - 1
    while lo <= hi:
        if used + widths[lo] + 3 > width and left:
            break
        left.append(lo)
        used += widths[lo] + 3
        lo += 1
        if lo > hi or used + widths[hi] + 3 > width:
            break
        right.insert(0, hi)
        used += widths[hi] + 3
        hi -= 1
    hidden = len(widths) - len(left) - len(right)
    if hidden <= 0:
        return result, 0
    dots = pa.array(["…"] * result.num_rows, pa.string())
    columns = [result.column(i) for i in left] + [dots] + [result.column(i) for i in right]
    names = [result.column_names[i] for i in left] + ["…"] + [result.column_names[i] for i in right]
    return pa.Table.from_arrays(columns, names=names), hidden


# --- entry points ----------------------------------------------------------------------------------
def main(lake: str, *, stdin: TextIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the console; the exit status: 1 when a statement of a script failed, else 0."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    interactive = stdin.isatty() and stdout.isatty()
    console = Console(lake, out=stdout, err=stderr, interactive=interactive)
    try:
        if interactive:
            _interactive(console, history_path())
            return 0
        return 1 if console.run_lines(stdin) else 0
    finally:
        console.close()


def _interactive(console: Console, history_file: Path) -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
    from prompt_toolkit.lexers import Lexer, PygmentsLexer

    class SqlCompleter(Completer):
        def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
            replace, candidates = console.complete(document.text_before_cursor, document.text)
            for candidate in candidates:
                yield Completion(candidate, start_position=-replace)

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
        elif is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    @bindings.add("escape", "enter")
    def _force(event: KeyPressEvent) -> None:  # run an unfinished statement as it is
        event.current_buffer.validate_and_handle()

    history: History
    try:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        history_file.touch()
        history = FileHistory(str(history_file))
    except OSError as exc:
        print(f"note: history not kept ({history_file}: {exc.strerror})", file=console.err)
        history = InMemoryHistory()
    lexer: Lexer | None = None
    try:
        from pygments.lexers.sql import SqlLexer

        lexer = PygmentsLexer(SqlLexer)
    except ImportError:  # colours are a nicety
        pass
    session: PromptSession[str] = PromptSession(
        PROMPT,
        multiline=True,
        history=history,
        completer=SqlCompleter(),
        complete_while_typing=False,
        auto_suggest=AutoSuggestFromHistory(),
        key_bindings=bindings,
        lexer=lexer,
        prompt_continuation=lambda width, line, wrap: CONTINUATION.rjust(width),
    )
    console._say(
        f"edgelake console on {console.lake} (read-only). Statements end with ';'; "
        ".help lists commands; Tab completes; Ctrl-D quits."
    )
    while not console.done:
        try:
            text = session.prompt()
        except KeyboardInterrupt:
            continue  # Ctrl-C drops the statement being typed
        except EOFError:
            break
        try:
            console.run_lines(text.split("\n"))
        except KeyboardInterrupt:
            console.con.interrupt()
            print("interrupted", file=console.err, flush=True)
