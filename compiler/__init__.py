"""The Flow compiler: text to syntax tree to typed program to graph to plan, or diagnostics."""
