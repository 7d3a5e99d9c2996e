"""The Keras program of the article "Very Short Intro to Neural Networks", running on nerve.

As the article writes it, with ``import keras`` changed to ``from nerve import keras`` and
MNIST to Fashion-MNIST (which ``load_data()`` finds in Debian's ``dataset-fashion-mnist``
package or Keras's cache when there is no network). Two epochs, then the accuracy and loss
curves are saved to ``article_keras_history.png``.

    python examples/article_keras.py
"""

import os

from nerve import keras
from nerve.keras.layers import Dense, Flatten
from nerve.keras.models import Sequential

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
if os.environ.get("NERVE_LIMIT"):  # not in the article: a short run on the first N images of each set
    n = int(os.environ["NERVE_LIMIT"])
    (x_train, y_train), (x_test, y_test) = (x_train[:n], y_train[:n]), (x_test[:n], y_test[:n])
x_train, x_test = x_train / 255.0, x_test / 255.0
y_train, y_test = keras.utils.to_categorical(y_train), keras.utils.to_categorical(y_test)

model = Sequential([
    Flatten(input_shape=(28, 28)),
    Dense(10, activation="softmax"),
])
model.summary()

model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=int(os.environ.get("NERVE_EPOCHS", 2)), validation_data=(x_test, y_test))

out = model.predict(x_test[:20])
print("predictions for 20 test images:", out.argmax(axis=1))
print("their labels:                  ", y_test[:20].argmax(axis=1))
print("validation accuracy after 2 epochs:", round(history.history["val_accuracy"][-1], 4))
keras.utils.plot_history(history, "article_keras_history.png")
