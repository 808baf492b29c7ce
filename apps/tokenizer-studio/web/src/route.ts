// The screens of the app; navigation is in-memory (the URL fragment is reserved for the launch code).

export type Route =
  | { name: 'datasets' }
  | { name: 'new-training' }
  | { name: 'jobs' }
  | { name: 'job'; id: string }
  | { name: 'about' }
  | { name: 'logs' };
