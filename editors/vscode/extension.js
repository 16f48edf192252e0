// The flowc extension: starts `flowc lsp` and connects VS Code to it over stdio.
// Highlighting comes from syntaxes/flow.tmLanguage.json; everything else from the server.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("flowc");
  const [command, ...args] = config.get("command", ["flowc", "lsp"]);
  const serverOptions = { command, args, options: { env: process.env } };
  const clientOptions = {
    documentSelector: [{ language: "flow" }],
    initializationOptions: {
      skills: config.get("skills", []),
      locked: config.get("locked", "auto"),
      debounceMs: config.get("debounceMs", 30),
    },
  };
  client = new LanguageClient("flowc", "flowc", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.commands.registerCommand("flowc.restartServer", () => client.restart())
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
