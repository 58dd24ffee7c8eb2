/**
 * Prometheus's configuration on a Swarm manager, as the analysis expects it: the swarm's tasks
 * discovered through the Docker socket (dockerswarm_sd_configs, role tasks), scraped when their
 * service carries the label `deployer.scrape=true`, on the task's host-mode published port (the
 * local fleet has no IPVS routing mesh). Every series gets the labels the analysis queries on:
 * cluster, service, task_slot, task_id, and digest/role/deployment where the deployer set them.
 * The local fleet and the AWS demo fleet both run it. JSON is YAML: no YAML library is needed for
 * a config we generate.
 */
export function swarmPrometheusConfig(o: {
  cluster: string;
  /** The Docker socket's path on the manager. */
  socket: string;
  /** Scrape, evaluation and discovery interval. */
  intervalSeconds: number;
  timeoutSeconds: number;
}): string {
  const every = `${o.intervalSeconds}s`;
  const cfg = {
    global: { scrape_interval: every, scrape_timeout: `${o.timeoutSeconds}s`, evaluation_interval: every },
    scrape_configs: [
      {
        job_name: 'swarm-tasks',
        dockerswarm_sd_configs: [{ host: `unix://${o.socket}`, role: 'tasks', refresh_interval: every }],
        relabel_configs: [
          { source_labels: ['__meta_dockerswarm_task_desired_state'], regex: 'running', action: 'keep' },
          {
            source_labels: ['__meta_dockerswarm_service_label_deployer_scrape'],
            regex: 'true',
            action: 'keep',
          },
          { source_labels: ['__meta_dockerswarm_task_port_publish_mode'], regex: 'host', action: 'keep' },
          {
            source_labels: ['__meta_dockerswarm_service_label_deployer_metrics_path'],
            regex: '(.+)',
            target_label: '__metrics_path__',
          },
          { target_label: 'cluster', replacement: o.cluster },
          { source_labels: ['__meta_dockerswarm_service_name'], target_label: 'service' },
          { source_labels: ['__meta_dockerswarm_task_slot'], target_label: 'task_slot' },
          { source_labels: ['__meta_dockerswarm_task_id'], target_label: 'task_id' },
          // The tasks role carries no image; the deployer labels the services it creates or updates
          // (deployer.digest, deployer.role, deployer.deployment) and those become series labels.
          {
            regex: '__meta_dockerswarm_service_label_deployer_(digest|role|deployment)',
            action: 'labelmap',
            replacement: '$1',
          },
        ],
      },
    ],
  };
  return JSON.stringify(cfg, null, 2);
}
