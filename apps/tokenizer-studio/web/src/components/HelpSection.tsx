// A collapsed "What can I do?" panel with the troubleshooting guide's section for a problem.
import { helpSection, type HelpAnchor } from '../troubleshooting';
import { ExportDiagnostics } from './ExportDiagnostics';

export function HelpSection({ anchor }: { anchor: HelpAnchor }) {
  const section = helpSection(anchor);
  if (!section) return null;
  return (
    <details className="help" data-testid="help-section" data-anchor={anchor}>
      <summary>What can I do? ({section.title})</summary>
      {section.paragraphs.map((text) => (
        <p key={text}>{text}</p>
      ))}
      <p>
        Still stuck? <ExportDiagnostics /> and send the zip with your question: it holds the app's logs and
        facts about this computer, never your files, their names or their contents.
      </p>
    </details>
  );
}
