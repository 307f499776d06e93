"""The README's Quickstart and CI run the same commands."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _quickstart_commands() -> list[str]:
  readme = (ROOT / "README.md").read_text(encoding="utf-8")
  section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
  blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
  return [line for block in blocks for line in block.splitlines()
          if line.strip() and not line.lstrip().startswith("#")]


def test_quickstart_has_exactly_two_commands():
  commands = _quickstart_commands()
  assert len(commands) == 2, commands
  assert "python -m dftnet_jax.main --config=configs/" in commands[0]
  assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
  ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
  assert _quickstart_commands()[1] in [line.strip() for line in ci_lines]
