// Radio list of the training templates offered by the engine.
import type { Template } from '../../api/types';

interface Props {
  templates: Template[];
  selected: string | null;
  onSelect: (id: string) => void;
}

export function TemplatePicker({ templates, selected, onSelect }: Props) {
  return (
    <fieldset className="fieldset">
      <legend>Template</legend>
      <div className="choice-grid">
        {templates.map((template) => (
          <label
            key={template.id}
            className={selected === template.id ? 'choice selected' : 'choice'}
            data-testid={`template-${template.id}`}
          >
            <input
              type="radio"
              name="template"
              value={template.id}
              checked={selected === template.id}
              onChange={() => onSelect(template.id)}
            />
            <span className="choice-body">
              <span className="choice-title">{template.name}</span>
              <span className="muted small">{template.description}</span>
            </span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}
