/* Measures the resident memory of a model library run at changing batch
 * sizes, as a service does (issue 17, finding 12), loaded with dlopen so
 * that it works for any model whose inputs are F32:
 *
 *   heap_bound MODEL.so B1,B2,... [--time B:K] [--max-faults-per-call N]
 *              [--max-growth MB] [--max-after-trim MB] [--max-after-destroy MB]
 *
 * Two instances take the calls in turn, call i at batch size Bi (every
 * dynamic size of every input). Then, with --time, K more calls at B on
 * the first instance (the median time and the page faults per call are
 * printed; --max-faults-per-call bounds the latter: a cache that hands the
 * same call's blocks out again faults no page in); then trim; then the
 * inputs are freed and both instances destroyed. RSS is read from /proc/self/statm after each
 * step; sizes are printed in MB, growth relative to the RSS after both
 * instances were created. Each --max-* limit that is exceeded is reported
 * and makes the exit status 1: the peak growth after a call, the growth
 * after trim, the growth after the last destroy. A library without trim
 * (an older modelc) is measured without that step. */
#define _POSIX_C_SOURCE 200809L
#include "modelc/modelc.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "open_model.h"

#define MAX_IO 8
#define MAX_RANK 8
#define MAX_CALLS 1024

static const modelc_api *api;

static double rss_mb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2) {
    printf("FAILED: cannot read /proc/self/statm\n");
    exit(1);
  }
  fclose(f);
  return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static long minor_faults(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void die(const char *what, const modelc_model *m) {
  printf("FAILED: %s: %s\n", what, api->last_error(m));
  exit(1);
}

/* The inputs of a call at `batch`; their data is allocated once for the
 * largest batch and shared. */
static int n_inputs;
static modelc_io_info infos[MAX_IO];
static modelc_tensor inputs[MAX_IO];
static int64_t shapes[MAX_IO][MAX_RANK];

static size_t shape_for(int i, int64_t batch) {
  size_t n = 1;
  for (int d = 0; d < infos[i].rank; ++d) {
    shapes[i][d] = infos[i].shape[d] < 0 ? batch : infos[i].shape[d];
    n *= (size_t)shapes[i][d];
  }
  return n;
}

static void run(modelc_model *m, int64_t batch) {
  for (int i = 0; i < n_inputs; ++i)
    shape_for(i, batch);
  if (api->forward(m, inputs, n_inputs) != 0)
    die("forward", m);
}

static double limit_arg(const char *value) {
  char *end;
  double v = strtod(value, &end);
  if (*end || v < 0) {
    printf("FAILED: bad limit '%s'\n", value);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: heap_bound MODEL.so B1,B2,... [--time B:K] "
                    "[--max-growth MB] [--max-after-trim MB] "
                    "[--max-after-destroy MB]\n");
    return 2;
  }
  int64_t batches[MAX_CALLS];
  int n_calls = 0;
  int64_t largest = 0;
  for (char *p = argv[2]; *p && n_calls < MAX_CALLS;) {
    batches[n_calls] = strtoll(p, &p, 10);
    if (batches[n_calls] < 1) {
      printf("FAILED: bad batch list '%s'\n", argv[2]);
      return 2;
    }
    if (batches[n_calls] > largest)
      largest = batches[n_calls];
    ++n_calls;
    if (*p == ',')
      ++p;
  }
  long time_batch = 0, time_calls = 0;
  double max_growth = -1, max_after_trim = -1, max_after_destroy = -1, max_faults = -1;
  for (int a = 3; a + 1 < argc; a += 2) {
    if (!strcmp(argv[a], "--time") &&
        sscanf(argv[a + 1], "%ld:%ld", &time_batch, &time_calls) == 2 &&
        time_batch > 0 && time_calls > 0)
      continue;
    if (!strcmp(argv[a], "--max-faults-per-call"))
      max_faults = limit_arg(argv[a + 1]);
    else if (!strcmp(argv[a], "--max-growth"))
      max_growth = limit_arg(argv[a + 1]);
    else if (!strcmp(argv[a], "--max-after-trim"))
      max_after_trim = limit_arg(argv[a + 1]);
    else if (!strcmp(argv[a], "--max-after-destroy"))
      max_after_destroy = limit_arg(argv[a + 1]);
    else {
      printf("FAILED: bad option '%s %s'\n", argv[a], argv[a + 1]);
      return 2;
    }
  }
  if (time_batch > largest)
    largest = time_batch;

  api = open_model(argv[1]);
  int has_trim = api->size >= offsetof(modelc_api, trim) + sizeof api->trim;

  double loaded = rss_mb();
  modelc_model *models[2] = {api->create("cpu", 1), api->create("cpu", 2)};
  if (!models[0] || !models[1])
    die("create", NULL);
  n_inputs = api->num_inputs(models[0]);
  if (n_inputs > MAX_IO) {
    printf("FAILED: too many inputs\n");
    return 1;
  }
  for (int i = 0; i < n_inputs; ++i) {
    if (api->input_info(models[0], i, &infos[i]) != 0)
      die("input_info", models[0]);
    if (infos[i].dtype != MODELC_F32 || infos[i].rank > MAX_RANK) {
      printf("FAILED: input %d: only F32 inputs of rank <= %d are supported\n",
             i, MAX_RANK);
      return 1;
    }
    size_t n = shape_for(i, largest);
    float *data = malloc(n * sizeof(float) + 1);
    if (!data) {
      printf("FAILED: out of memory for the inputs\n");
      return 1;
    }
    for (size_t k = 0; k < n; ++k)
      data[k] = (float)((k * 2654435761u) % 1000) / 1000.0f - 0.5f;
    inputs[i].data = data;
    inputs[i].dtype = MODELC_F32;
    inputs[i].rank = infos[i].rank;
    inputs[i].shape = shapes[i];
  }
  double created = rss_mb(), peak = created, faults_per_call = 0;
  for (int c = 0; c < n_calls; ++c) {
    run(models[c % 2], batches[c]);
    double rss = rss_mb();
    if (rss > peak)
      peak = rss;
  }
  printf("%d calls on 2 instances, batch sizes up to %lld\n", n_calls,
         (long long)largest);
  if (time_calls) {
    double *ms = malloc((size_t)time_calls * sizeof(double));
    run(models[0], time_batch); /* the blocks of this size, cached */
    long faults = minor_faults();
    for (long k = 0; k < time_calls; ++k) {
      double start = now_ms();
      run(models[0], time_batch);
      ms[k] = now_ms() - start;
    }
    faults_per_call = (double)(minor_faults() - faults) / (double)time_calls;
    qsort(ms, (size_t)time_calls, sizeof(double), compare_doubles);
    printf("time: median %.2f ms of %ld calls at batch %ld, %.1f page faults a call\n",
           ms[time_calls / 2], time_calls, time_batch, faults_per_call);
    free(ms);
    double rss = rss_mb();
    if (rss > peak)
      peak = rss;
  }
  double before_trim = rss_mb(), after_trim = before_trim;
  if (has_trim) {
    if (api->trim(models[0]) != 0)
      die("trim", models[0]);
    after_trim = rss_mb();
  }
  for (int i = 0; i < n_inputs; ++i)
    free(inputs[i].data);
  api->destroy(models[1]);
  api->destroy(models[0]);
  double destroyed = rss_mb();
  printf("rss MB: loaded %.1f, created %.1f, peak %.1f, before trim %.1f, "
         "after trim %.1f%s, after the last destroy %.1f\n",
         loaded, created, peak, before_trim, after_trim,
         has_trim ? "" : " (no trim)", destroyed);

  int failed = 0;
  if (max_growth >= 0 && peak - created > max_growth) {
    printf("FAILED: the peak grew by %.1f MB, more than %.1f\n", peak - created,
           max_growth);
    failed = 1;
  }
  if (max_faults >= 0 && (!time_calls || faults_per_call > max_faults)) {
    printf("FAILED: %.1f page faults a call, more than %.1f\n", faults_per_call, max_faults);
    failed = 1;
  }
  if (max_after_trim >= 0 && (!has_trim || after_trim - created > max_after_trim)) {
    printf("FAILED: after trim %.1f MB more than after create, more than %.1f\n",
           after_trim - created, max_after_trim);
    failed = 1;
  }
  if (max_after_destroy >= 0 && destroyed - loaded > max_after_destroy) {
    printf("FAILED: after the last destroy %.1f MB more than before create, "
           "more than %.1f\n", destroyed - loaded, max_after_destroy);
    failed = 1;
  }
  if (!failed)
    printf("within the limits\n");
  return failed;
}
