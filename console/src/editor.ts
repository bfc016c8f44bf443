// The config editor (CodeMirror 6), loaded only when a config is opened: syntax highlighting by
// config type, search, undo, and Mod-s to review the change.

import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { json } from "@codemirror/lang-json";
import { xml } from "@codemirror/lang-xml";
import { yaml } from "@codemirror/lang-yaml";
import { bracketMatching, HighlightStyle, indentOnInput, StreamLanguage, syntaxHighlighting } from "@codemirror/language";
import { properties } from "@codemirror/legacy-modes/mode/properties";
import { highlightSelectionMatches, search, searchKeymap } from "@codemirror/search";
import { Compartment, EditorState, type Extension } from "@codemirror/state";
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { tags } from "@lezer/highlight";

// Colours come from CSS variables, so the editor follows the light or dark theme.
const style = HighlightStyle.define([
  { tag: [tags.keyword, tags.bool, tags.null, tags.atom], color: "var(--hl-keyword)" },
  { tag: [tags.propertyName, tags.definition(tags.propertyName), tags.tagName, tags.attributeName], color: "var(--hl-key)" },
  { tag: [tags.string, tags.special(tags.string), tags.attributeValue], color: "var(--hl-string)" },
  { tag: [tags.number, tags.integer, tags.float], color: "var(--hl-number)" },
  { tag: [tags.comment, tags.lineComment, tags.blockComment], color: "var(--hl-comment)", fontStyle: "italic" },
  { tag: [tags.meta, tags.processingInstruction, tags.labelName], color: "var(--hl-meta)" },
  { tag: tags.invalid, color: "var(--danger)" },
]);

function language(type: string): Extension {
  switch (type) {
    case "yaml":
      return yaml();
    case "json":
      return json();
    case "xml":
    case "html":
      return xml();
    case "properties":
      return StreamLanguage.define(properties);
    default:
      return [];
  }
}

export interface Editor {
  getDoc(): string;
  setDoc(text: string): void;
  setType(type: string): void;
  focus(): void;
  destroy(): void;
}

export function createEditor(
  parent: HTMLElement,
  doc: string,
  type: string,
  onChange: (text: string) => void,
  onSave: () => void,
): Editor {
  const lang = new Compartment();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        search({ top: true }),
        syntaxHighlighting(style),
        keymap.of([
          { key: "Mod-s", preventDefault: true, run: () => (onSave(), true) },
          ...defaultKeymap,
          ...historyKeymap,
          ...searchKeymap,
          indentWithTab,
        ]),
        lang.of(language(type)),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ "aria-label": "config content" }),
        EditorView.updateListener.of((u) => u.docChanged && onChange(u.state.doc.toString())),
      ],
    }),
  });
  return {
    getDoc: () => view.state.doc.toString(),
    setDoc: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    setType: (t) => view.dispatch({ effects: lang.reconfigure(language(t)) }),
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
