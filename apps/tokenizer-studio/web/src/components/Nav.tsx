// Top navigation between the three main screens.
import type { Route } from '../route';

interface Props {
  route: Route;
  onNavigate: (route: Route) => void;
}

const ITEMS: { name: Route['name']; label: string; target: Route }[] = [
  { name: 'datasets', label: 'Datasets', target: { name: 'datasets' } },
  { name: 'new-training', label: 'New training', target: { name: 'new-training' } },
  { name: 'jobs', label: 'Jobs', target: { name: 'jobs' } },
];

export function Nav({ route, onNavigate }: Props) {
  const current = route.name === 'job' ? 'jobs' : route.name;
  return (
    <nav className="nav" aria-label="Main">
      <ul>
        {ITEMS.map((item) => (
          <li key={item.name}>
            <button
              type="button"
              className={current === item.name ? 'nav-item active' : 'nav-item'}
              aria-current={current === item.name ? 'page' : undefined}
              data-testid={`nav-${item.name}`}
              onClick={() => onNavigate(item.target)}
            >
              {item.label}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
