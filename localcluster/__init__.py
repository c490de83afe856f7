"""Local Kubernetes control plane (etcd, kube-apiserver, kube-scheduler) for the tests."""
