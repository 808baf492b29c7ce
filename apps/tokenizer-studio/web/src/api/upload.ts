// Dataset upload through XMLHttpRequest, so the page can show real upload progress.
import { apiUrl, CREDENTIALS } from './config';
import { errorFromBody, networkError, ApiError } from './errors';
import { reportUnauthorized } from './client';
import type { Dataset } from './types';

export interface UploadHandle {
  promise: Promise<Dataset>;
  abort: () => void;
}

/** Uploads one file as multipart field `file`; `onProgress` gets a fraction 0..1. */
export function uploadDataset(file: File, onProgress: (fraction: number) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<Dataset>((resolve, reject) => {
    xhr.open('POST', apiUrl('/datasets'));
    xhr.withCredentials = CREDENTIALS === 'include';
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    xhr.upload.onload = () => onProgress(1);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as Dataset);
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
