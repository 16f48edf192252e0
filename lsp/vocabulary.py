"""The words of the language that hover and completion explain: properties, options, gate
arguments, keywords and node-kind snippets. `tests/lsp/test_vocabulary.py` keeps these tables
in step with the checker's own."""

from __future__ import annotations

__all__ = ["PROPERTIES", "NODE_OPTIONS", "GATE_ARGS", "ASK_ARGS", "GATE_ACTIONS",
           "TOP_KEYWORDS", "NODE_KINDS", "CLAUSE_KEYWORDS", "BUILTIN_TYPES", "TOP_SNIPPETS"]

_TEMPLATE = "text with `{...}` holes"
PROPERTIES: dict[str, dict[str, str]] = {
    "llm": {
        "prompt": f"The prompt ({_TEMPLATE}). Required.",
        "system": f"The system message ({_TEMPLATE}).",
        "context": "Nodes, inputs or their parts the model sees: `context [stats, draft.body]`.",
        "sops": "SOP documents the model follows: `sops [compliance, reporting.monthly]`.",
        "model": "The model name (a constant string); `\"default\"` uses the configured one.",
        "temperature": "Sampling temperature (a number).",
        "max_tokens": "The most tokens the reply may take.",
    },
    "agent": {
        "goal": f"What the agent must achieve ({_TEMPLATE}). Required.",
        "instructions": f"How to go about it ({_TEMPLATE}).",
        "context": "Nodes, inputs or their parts the agent sees.",
        "sops": "SOP documents the agent follows.",
        "skills": "Skills the agent may call: `skills [render_report]`.",
        "model": "The model name (a constant string).",
        "max_steps": "The most tool-using steps the agent may take.",
        "temperature": "Sampling temperature (a number).",
        "max_tokens": "The most tokens a reply may take.",
    },
    "extract": {
        "from": "The node (or part) to read: `from draft.memory`. Required.",
        "fallback": "Text to use when nothing can be extracted. Required.",
        "instructions": f"What to look for ({_TEMPLATE}).",
        "model": "The model name (a constant string).",
    },
}

NODE_OPTIONS = {
    "timeout": "How long the node may run: `timeout 30s`.",
    "retry": "How many times to retry after a failure: `retry 2`.",
    "hosts": "Hosts a sandboxed node may reach: `hosts [\"api.example.com\"]`.",
    "memory_limit": "The sandbox's memory limit: `memory_limit \"256MiB\"`.",
    "isolation": "`\"strict\"` (a fresh interpreter per call) or `\"run\"` (one per run).",
}

GATE_ARGS = {
    "to": "Who decides: `role(\"compliance\")`, `user(\"ana@example.com\")` or a list. Required.",
    "show": "What the reviewer sees: `show: [draft.body, draft.report]`.",
    "edit": "A form the reviewer may edit: `edit: { body: str = draft.body }`.",
    "actions": "What the reviewer may do: `actions: [approve, edit, reject]`.",
    "timeout": "How long to wait, and what then: `timeout: 48h -> reject`.",
    "escalate": "Who may decide too when nobody has after a while: `escalate: 8h -> "
                "role(\"lead\")` or a list of such steps, each before the timeout.",
    "when": "Pause only when this holds; otherwise the gate approves by itself.",
    "title": f"The task's title ({_TEMPLATE}).",
    "message": f"The message to the reviewer ({_TEMPLATE}).",
}

ASK_ARGS = {
    "to": "Whom to ask: `role(\"...\")` or `user(\"...\")`. Required.",
    "question": f"The question ({_TEMPLATE}). Required.",
    "timeout": "How long to wait, and what then: `timeout: 24h -> fail` or a default value.",
    "choices": "The answers to choose from: a list of the node's type.",
}

GATE_ACTIONS = {
    "approve": "The reviewer approves: the gate ends `approved`.",
    "edit": "The reviewer edits the form and approves: the gate ends `edited`.",
    "reject": "The reviewer rejects, with a reason: the gate ends `rejected`.",
    "fail": "The run fails (as a timeout's outcome).",
}

TOP_KEYWORDS = {
    "node": "A step of the flow: `node NAME = KIND ...`.",
    "input": "A value the flow is started with: `input NAME: TYPE`.",
    "output": "A value the flow hands back: `output NAME = EXPR`.",
    "record": "A record type: `record NAME { field: type, ... }`.",
    "enum": "An enumeration: `enum NAME { a, b }`.",
    "deliverable": "What a node hands over: text, files, fields, memory.",
    "import": "Import an SOP document or folder: `import sop \"PATH\" as NAME`.",
    "use": "Use a skill (`use skill NAME @ VERSION`) or a flow (`use flow \"PATH\" as NAME`).",
    "match": "Route on a gate's outcome or an enum value.",
    "mode": "The flow's mode: `mode workflow` or `mode chat`.",
    "on": "A trigger: `on schedule \"CRON\"` or `on upload file<KIND>`.",
    "policy": "A policy: `policy approval: error|warning|off`.",
}

NODE_KINDS = {
    "llm": "One model call.",
    "agent": "A model that works towards a goal with skills, step by step.",
    "extract": "Typed fields extracted from another node's result.",
    "skill": "Call a skill imported with `use skill`.",
    "flow": "Call a flow imported with `use flow`.",
    "code": "Sandboxed Python or JavaScript.",
    "command": "A command line, run in the sandbox's shell.",
    "await": "`await human(...)`: a gate where a person approves, edits or rejects.",
    "ask": "`ask human(...)`: ask a person for one missing value.",
    "for": "`for each x in list { ... }`: run a node kind for every item.",
}

CLAUSE_KEYWORDS = {
    "when": "Run the node only when this condition holds.",
    "after": "Run after another node (or one of its outcomes): `after review.approved`.",
    "effect": "The node acts on the outside world: `effect external`.",
}

BUILTIN_TYPES = {
    "str": "Text.", "int": "A whole number.", "float": "A number.", "bool": "true or false.",
    "date": "A calendar date.", "duration": "A duration such as `48h`.",
    "json": "Any JSON value (unchecked).", "list": "`list<T>`: items of one type.",
    "map": "`map<T>`: text keys to values of one type.", "file": "`file<KIND>`: a file.",
    "memory": "A memory snapshot: an agent's working context.",
}

# Snippets (LSP snippet syntax) offered at the start of a declaration.
TOP_SNIPPETS = {
    "node = llm": 'node ${1:name} = llm {\n  prompt "${2:...}"\n}',
    "node = agent": 'node ${1:name} = agent {\n  goal "${2:...}"\n}',
    "node = extract": 'node ${1:name}: ${2:Type} = extract {\n  from ${3:node}\n'
                      '  fallback "${4:...}"\n}',
    "node = skill": "node ${1:name} = skill ${2:skill}(${3})",
    "node = flow": "node ${1:name} = flow ${2:flow}(${3})",
    "node = code": 'node ${1:name}: ${2:Type} = code ${3|python,javascript|} """\n  $0\n"""',
    "node = command": "node ${1:name} = command `${2:...}`\n  timeout ${3:30s}",
    "node = await human": 'node ${1:review} = await human(\n  to: role("${2:role}"),\n'
                          "  show: [${3}],\n  actions: [approve, reject],\n"
                          "  timeout: ${4:48h} -> ${5|reject,approve,fail|},\n)",
    "node = ask human": 'node ${1:answer}: ${2:str} = ask human(\n  to: role("${3:role}"),\n'
                        '  question: "${4:...}",\n  timeout: ${5:24h} -> fail,\n)',
    "node = for each": "node ${1:name} = for each ${2:item} in ${3:list} {\n  $0\n}",
    "input": "input ${1:name}: ${2:str}",
    "output": "output ${1:name} = ${2:node.text}",
    "record": "record ${1:Name} { ${2:field}: ${3:str} }",
    "enum": "enum ${1:Name} { ${2:a}, ${3:b} }",
    "deliverable": "deliverable ${1:Name} {\n  text ${2:body}\n}",
    "import sop": 'import sop "${1:sops/doc.md}" as ${2:name}',
    "use skill": "use skill ${1:name} @ ${2:1.0.0}",
    "use flow": 'use flow "${1:other.flow}" as ${2:name}',
    "match": "match ${1:review} {\n  approved -> ${2:next}\n  rejected -> ${3:stop}\n}",
}
