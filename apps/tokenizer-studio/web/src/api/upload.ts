// File uploads through XMLHttpRequest, so the page can show real upload progress: a dataset, or
// a tokenizer.json to import.
import { apiUrl, CREDENTIALS } from './config';
import { errorFromBody, networkError, ApiError } from './errors';
import { reportUnauthorized } from './client';
import type { Dataset, Job } from './types';

export interface UploadHandle<T> {
  promise: Promise<T>;
  abort: () => void;
}

/** Posts one file as multipart field `file` to `path`; `onProgress` gets a fraction 0..1. */
function uploadFile<T>(path: string, file: File, onProgress: (fraction: number) => void): UploadHandle<T> {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<T>((resolve, reject) => {
    xhr.open('POST', apiUrl(path));
    xhr.withCredentials = CREDENTIALS === 'include';
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    xhr.upload.onload = () => onProgress(1);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as T);
        } catch {
          reject(new ApiError(xhr.status, 'bad_response', 'The service sent an answer this page cannot read.'));
        }
        return;
      }
      if (xhr.status === 401) reportUnauthorized();
      reject(errorFromBody(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => reject(networkError());
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/** Uploads one dataset file. */
export function uploadDataset(file: File, onProgress: (fraction: number) => void): UploadHandle<Dataset> {
  return uploadFile<Dataset>('/datasets', file, onProgress);
}

/** Imports a Hugging Face tokenizer.json; the engine answers with its (succeeded) job. */
export function importTokenizer(file: File, onProgress: (fraction: number) => void): UploadHandle<Job> {
  return uploadFile<Job>('/jobs/import', file, onProgress);
}
