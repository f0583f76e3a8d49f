"""The torchvision datasets balancelab reads, as a table without torch: the option schema offers them as
choices and checks their files before a run; the loader (torchvision_sets) opens them."""

# torchvision datasets balancelab reads: source -> (torchvision class, the files expected under dataset.root).
TORCHVISION_SOURCES = {
    "mnist": ("MNIST", "MNIST/raw/: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw/: the same four idx files as MNIST"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py/: data_batch_1..5, test_batch, batches.meta"),
    "cifar100": ("CIFAR100", "cifar-100-python/: train, test, meta"),
}
# The class count of each source, known before loading (the config check compares it with the loss's needs).
TORCHVISION_CLASS_COUNTS = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}
