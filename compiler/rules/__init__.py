"""Graph validation rules: one rule per module, all run over one built graph."""
